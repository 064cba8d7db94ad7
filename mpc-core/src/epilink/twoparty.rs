//! The two-party [`Engine`]: the pipeline's Boolean circuits are built as
//! netlists and evaluated with GMW (material drawn from the run's OT
//! streams), the B2A and bit × integer products run the OT protocols of
//! [`super::bitmul`].

use super::bitmul::{bit_times_arith, bit_times_public, reduce};
use super::circuit::{ChunkShape, decide, select, select_groups, similarities, spread};
use super::error::ProtocolError;
use super::inputs::{InputSink, NetInputs, Owner, PartyChunk, chunk_inputs};
use super::muxprod::bit_times_mixed;
use super::ots::{BIT_ROT_BATCH, OtStreams};
use super::pipeline::{Engine, SimilarityShares};
use super::plan::Plan;
use crate::channel::Channel;
use crate::circuit::Word;
use crate::circuit::netlist::{NetWire, Reveal};
use crate::circuit::word::values_to_lanes;
use crate::gmw::{
    FixedPlan, GmwError, Material, ReceivedBitRots, ReceivedKeyRots, SentBitRots, run_online,
};
use crate::{Lanes, Party};
use std::sync::Arc;

/// The two-party [`Engine`]: Boolean circuits in GMW, conversions and
/// products with OTs from the run's two OT streams.
pub(crate) struct TwoParty<C: Channel> {
    pub(crate) ch: C,
    pub(crate) me: Party,
    pub(crate) ots: OtStreams,
}

impl<C: Channel> TwoParty<C> {
    /// Marks `words` as share outputs, preprocesses and evaluates the
    /// netlist, and returns this party's shares of every word.
    async fn evaluate(
        &mut self,
        mut ni: NetInputs,
        words: &[Word<NetWire>],
    ) -> Result<Vec<Vec<Lanes>>, ProtocolError> {
        let mut marks = Vec::with_capacity(words.len());
        for w in words {
            marks.push((output_shares(&mut ni, w)?, w.width()));
        }
        let NetInputs { net, inputs, .. } = ni;
        let net = net.finish();
        let material = fixed_material(&mut self.ch, &mut self.ots, self.me, &net).await?;
        let outputs = run_online(&net, self.me, &mut self.ch, &material, inputs).await?;
        marks
            .into_iter()
            .map(|(first, width)| Ok(outputs.word_lanes(first, width)?))
            .collect()
    }

    /// This party's share of `values` as a private input word (the peer
    /// declares the same word without a value).
    fn private_words(
        &self,
        ni: &mut NetInputs,
        values: &[u64],
        width: usize,
    ) -> Result<(Word<NetWire>, Word<NetWire>), ProtocolError> {
        let lanes = values.len();
        let mine: Vec<u128> = values
            .iter()
            .map(|&v| u128::from(reduce(v, width as u32)))
            .collect();
        let bits = values_to_lanes(&mine, width)?;
        let (c, s) = match self.me {
            Party::Client => (Some(bits), None),
            Party::Server => (None, Some(bits)),
        };
        let wc = ni.declare(Owner::Private(Party::Client), width, lanes, c)?;
        let ws = ni.declare(Owner::Private(Party::Server), width, lanes, s)?;
        Ok((wc, ws))
    }
}

/// The GMW material of `net` with its fixed-choice ANDs
/// ([`crate::gmw::fixed`]): the key-ROTs ride in the first extension batch
/// with the bit-ROTs, so they cost no extra flight.
async fn fixed_material<C: Channel>(
    ch: &mut C,
    ots: &mut OtStreams,
    me: Party,
    net: &crate::circuit::netlist::Netlist,
) -> Result<Material, ProtocolError> {
    let plan = Arc::new(FixedPlan::new(net));
    let too_large = || ProtocolError::from(GmwError::TooLarge);
    let size = |n: u64| usize::try_from(n).map_err(|_| too_large());
    let req = plan.bit_requirements();
    let n_recv = size(req.rots_received_by(me))?;
    let n_send = size(req.rots_received_by(me.other()))?;
    let key_r = size(plan.keys_received_by(me))?;
    let key_s = size(plan.keys_received_by(me.other()))?;
    let mut received = ReceivedBitRots::default();
    let mut sent = SentBitRots::default();
    let mut key_recv = ReceivedKeyRots::default();
    let mut key_send = Vec::new();
    let (mut done_recv, mut done_send) = (0usize, 0usize);
    let mut keys_due = key_r + key_s > 0;
    while keys_due || done_recv < n_recv || done_send < n_send {
        let r = BIT_ROT_BATCH.min(n_recv - done_recv);
        let s = BIT_ROT_BATCH.min(n_send - done_send);
        let (kr, ks) = if keys_due { (key_r, key_s) } else { (0, 0) };
        let (mut sb, mut rb) = ots.extend(ch, s + ks, r + kr).await?;
        if keys_due {
            key_send = sb.take_front(ks).random_ot();
            let kb = rb.take_front(kr);
            key_recv = ReceivedKeyRots {
                choices: Lanes::from_words(kb.choices.clone(), kr),
                keys: kb.random_ot(),
            };
            keys_due = false;
        }
        if s > 0 {
            let (m0, m1) = sb.random_bits();
            sent.m0.extend(&Lanes::from_words(m0, s));
            sent.m1.extend(&Lanes::from_words(m1, s));
        }
        if r > 0 {
            let (c, m) = rb.random_bits();
            received.choices.extend(&Lanes::from_words(c, r));
            received.messages.extend(&Lanes::from_words(m, r));
        }
        done_recv += r;
        done_send += s;
    }
    Ok(Material::with_fixed(
        me, plan, &received, &sent, key_recv, key_send,
    )?)
}

fn shared_words(
    ni: &mut NetInputs,
    words: &[Vec<Lanes>],
    lanes: usize,
) -> Result<Vec<Word<NetWire>>, ProtocolError> {
    words
        .iter()
        .map(|w| Ok(ni.declare(Owner::Shared, w.len(), lanes, Some(w.clone()))?))
        .collect()
}

impl<C: Channel> Engine for TwoParty<C> {
    fn party(&self) -> Party {
        self.me
    }

    async fn similarities(
        &mut self,
        plan: &Plan,
        shape: &ChunkShape,
        client: Option<PartyChunk<'_>>,
        server: Option<PartyChunk<'_>>,
    ) -> Result<SimilarityShares, ProtocolError> {
        let mut ni = NetInputs::new(self.me);
        let inputs = chunk_inputs(&mut ni, plan, shape, client, server)?;
        let lanes = spread(&mut ni, shape, &inputs)?;
        let sims = similarities(&mut ni, plan, &lanes)?;
        // Outputs: every Dice word, every binary bit, every denominator.
        let mut words = Vec::new();
        for w in sims.dice.iter().flatten() {
            words.push(w.clone());
        }
        for e in sims.equal.iter().flatten() {
            words.push(Word::from_bits(vec![*e]));
        }
        words.extend(sims.denominators.iter().cloned());
        let mut shares = self.evaluate(ni, &words).await?.into_iter();
        let mut out = SimilarityShares {
            dice: vec![None; plan.pairs.len()],
            equal: vec![None; plan.pairs.len()],
            denominators: Vec::with_capacity(plan.pairings.len()),
        };
        let missing = || ProtocolError::Internal("similarity output".into());
        for (t, w) in sims.dice.iter().enumerate() {
            if w.is_some() {
                out.dice[t] = Some(shares.next().ok_or_else(missing)?);
            }
        }
        for (t, e) in sims.equal.iter().enumerate() {
            if e.is_some() {
                out.equal[t] = shares.next().ok_or_else(missing)?.pop();
            }
        }
        for _ in &sims.denominators {
            out.denominators.push(shares.next().ok_or_else(missing)?);
        }
        Ok(out)
    }

    async fn b2a(&mut self, bits: &[Lanes], width: u32) -> Result<Vec<u64>, ProtocolError> {
        // Σ_k 2^k·b_k: every bit times its public weight, in one batch.
        let lanes = bits.first().map_or(0, Lanes::len);
        let mut all = Lanes::zeros(0);
        let mut weights = Vec::with_capacity(lanes * bits.len());
        for (k, b) in bits.iter().enumerate() {
            all.extend(b);
            weights.extend(std::iter::repeat_n(
                reduce(1u64.wrapping_shl(k as u32), width),
                lanes,
            ));
        }
        let products = bit_times_public(&mut self.ch, &mut self.ots, &all, &weights, width).await?;
        let mut out = vec![0u64; lanes];
        for k in 0..bits.len() {
            for (o, p) in out.iter_mut().zip(&products[k * lanes..(k + 1) * lanes]) {
                *o = o.wrapping_add(*p);
            }
        }
        Ok(out.into_iter().map(|v| reduce(v, width)).collect())
    }

    async fn bit_mul(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
    ) -> Result<Vec<u64>, ProtocolError> {
        bit_times_arith(&mut self.ch, &mut self.ots, bits, x, width).await
    }

    async fn select(
        &mut self,
        plan: &Plan,
        y: &[u64],
        left: &[Vec<Lanes>],
        right: &[Vec<Lanes>],
    ) -> Result<(Lanes, Vec<Vec<Lanes>>), ProtocolError> {
        let lanes = y.len();
        let mut ni = NetInputs::new(self.me);
        let (yc, ys) = self.private_words(&mut ni, y, plan.arith_width as usize)?;
        let l = shared_words(&mut ni, left, lanes)?;
        let r = shared_words(&mut ni, right, lanes)?;
        let (s, words) = select(&mut ni, plan, &yc, &ys, &l, &r)?;
        let mut all = vec![Word::from_bits(vec![s])];
        all.extend(words);
        let mut shares = self.evaluate(ni, &all).await?.into_iter();
        let s = shares
            .next()
            .and_then(|mut w| w.pop())
            .ok_or_else(|| ProtocolError::Internal("select output".into()))?;
        Ok((s, shares.collect()))
    }

    async fn select_groups(
        &mut self,
        plan: &Plan,
        y: &[u64],
        classes: &[(usize, usize)],
    ) -> Result<Vec<Vec<Lanes>>, ProtocolError> {
        let mut ni = NetInputs::new(self.me);
        let (yc, ys) = self.private_words(&mut ni, y, plan.arith_width as usize)?;
        let winners = select_groups(&mut ni, plan, &yc, &ys, classes)?;
        let all: Vec<Word<NetWire>> = winners
            .iter()
            .flatten()
            .map(|b| Word::from_bits(vec![*b]))
            .collect();
        let mut shares = self.evaluate(ni, &all).await?.into_iter();
        let missing = || ProtocolError::Internal("select_groups output".into());
        winners
            .iter()
            .map(|w| {
                (0..w.len())
                    .map(|_| shares.next().and_then(|mut b| b.pop()).ok_or_else(missing))
                    .collect()
            })
            .collect()
    }

    async fn bit_mul_mixed(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
        words: &[u64],
        word_width: usize,
    ) -> Result<(Vec<u64>, Vec<u64>), ProtocolError> {
        bit_times_mixed(
            &mut self.ch,
            &mut self.ots,
            bits,
            x,
            width,
            words,
            word_width,
        )
        .await
    }

    async fn decide(
        &mut self,
        plan: &Plan,
        numerator: &[u64],
        denominator: &[Lanes],
    ) -> Result<(Lanes, Lanes), ProtocolError> {
        let lanes = numerator.len();
        let mut ni = NetInputs::new(self.me);
        let (nc, ns) = self.private_words(&mut ni, numerator, plan.n_width)?;
        let d = ni.declare(
            Owner::Shared,
            denominator.len(),
            lanes,
            Some(denominator.to_vec()),
        )?;
        let (m, t) = decide(&mut ni, plan, &nc, &ns, &d)?;
        let mut shares = self
            .evaluate(ni, &[Word::from_bits(vec![m]), Word::from_bits(vec![t])])
            .await?
            .into_iter();
        let mut bit = || {
            shares
                .next()
                .and_then(|mut w| w.pop())
                .ok_or_else(|| ProtocolError::Internal("decision output".into()))
        };
        let m = bit()?;
        let t = bit()?;
        Ok((m, t))
    }
}

/// Marks every bit of `w` as an output the parties receive as fresh XOR
/// shares; returns the output index of bit 0. Public bits (a constant, e.g.
/// the index of the only record of a chunk) are re-randomised like any other.
pub(crate) fn output_shares(ni: &mut NetInputs, w: &Word<NetWire>) -> Result<usize, ProtocolError> {
    Ok(ni.net.output_word(w, Reveal::Shares)?)
}
