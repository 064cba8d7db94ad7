//! The preprocessing phase: bit-ROTs in both directions from the OT pool,
//! turned into [`Material`].
//!
//! The counts come from [`Netlist::requirements`]: per triple one ROT in
//! each direction, per mixed AND one ROT received by the party that knows
//! the clear input. Both parties compute the same counts from the same
//! netlist, so the interactive `reserve` calls pair up.

use std::sync::Arc;

use super::fixed::FixedPlan;
use super::io::{Inputs, Outputs};
use super::material::{Material, ReceivedBitRots, ReceivedKeyRots, SentBitRots};
use super::{GmwError, run_online};
use crate::channel::Channel;
use crate::circuit::netlist::{Netlist, Requirements};
use crate::ot::{ExtensionConfig, OtPool, SetupOrder};
use crate::{Lanes, Party};

/// Sets up the two OT streams (one per direction) between the parties;
/// `ctx` must be the same on both sides and unique per session.
pub async fn setup_pool<C: Channel>(
    me: Party,
    ch: &mut C,
    cfg: ExtensionConfig,
    ctx: &[u8],
) -> Result<OtPool, GmwError> {
    let order = match me {
        Party::Client => SetupOrder::SenderFirst,
        Party::Server => SetupOrder::ReceiverFirst,
    };
    Ok(OtPool::setup(ch, order, cfg, ctx).await?)
}

/// ROTs per direction taken from the pool at a time: the pool holds OTs as
/// 128-bit blocks, so chunking keeps memory at a few tens of MB however
/// large the circuit, while the material itself is 1 bit per OT.
pub const PREPROCESS_CHUNK: usize = 1 << 20;

/// Takes this party's material for `req` from `pool`, extending it first
/// (both parties call it with the same requirements at the same point).
pub async fn preprocess<C: Channel>(
    me: Party,
    ch: &mut C,
    pool: &mut OtPool,
    req: &Requirements,
) -> Result<Material, GmwError> {
    let (received, sent) = preprocess_bits(me, ch, pool, req).await?;
    Material::from_rots(me, req, &received, &sent)
}

/// The bit-ROTs of `req` in both directions.
async fn preprocess_bits<C: Channel>(
    me: Party,
    ch: &mut C,
    pool: &mut OtPool,
    req: &Requirements,
) -> Result<(ReceivedBitRots, SentBitRots), GmwError> {
    let n_recv = usize::try_from(req.rots_received_by(me)).map_err(|_| GmwError::TooLarge)?;
    let n_send =
        usize::try_from(req.rots_received_by(me.other())).map_err(|_| GmwError::TooLarge)?;
    let mut received = ReceivedBitRots::default();
    let mut sent = SentBitRots::default();
    let (mut done_recv, mut done_send) = (0, 0);
    while done_recv < n_recv || done_send < n_send {
        let r = (n_recv - done_recv).min(PREPROCESS_CHUNK);
        let s = (n_send - done_send).min(PREPROCESS_CHUNK);
        pool.reserve(ch, s, r).await?;
        let (m0, m1) = pool.sender.take(s)?.random_bits();
        let (choices, messages) = pool.receiver.take(r)?.random_bits();
        sent.m0.extend(&Lanes::from_words(m0, s));
        sent.m1.extend(&Lanes::from_words(m1, s));
        received.choices.extend(&Lanes::from_words(choices, r));
        received.messages.extend(&Lanes::from_words(messages, r));
        done_recv += r;
        done_send += s;
    }
    Ok((received, sent))
}

/// Takes this party's material for the netlist `plan` was made for:
/// key-ROTs for its fixed ANDs, then bit-ROTs for the rest.
pub async fn preprocess_fixed<C: Channel>(
    me: Party,
    ch: &mut C,
    pool: &mut OtPool,
    plan: Arc<FixedPlan>,
) -> Result<Material, GmwError> {
    let kr = usize::try_from(plan.keys_received_by(me)).map_err(|_| GmwError::TooLarge)?;
    let ks = usize::try_from(plan.keys_received_by(me.other())).map_err(|_| GmwError::TooLarge)?;
    pool.reserve(ch, ks, kr).await?;
    let key_send = pool.sender.take(ks)?.random_ot();
    let rb = pool.receiver.take(kr)?;
    let key_recv = ReceivedKeyRots {
        choices: Lanes::from_words(rb.choices.clone(), kr),
        keys: rb.random_ot(),
    };
    drop(rb);
    let bits = preprocess_bits(me, ch, pool, plan.bit_requirements()).await?;
    Material::with_fixed(me, plan, &bits.0, &bits.1, key_recv, key_send)
}

/// A GMW session between the two parties: one OT pool (base OTs run once)
/// serving any number of circuits.
pub struct GmwSession {
    me: Party,
    pool: OtPool,
}

impl GmwSession {
    /// Runs the base OTs for both directions.
    pub async fn setup<C: Channel>(
        me: Party,
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, GmwError> {
        Ok(GmwSession {
            me,
            pool: setup_pool(me, ch, cfg, ctx).await?,
        })
    }

    /// This party's role.
    pub fn party(&self) -> Party {
        self.me
    }

    /// The OT pool, for protocols that need OTs beside circuits (B2A,
    /// vector products).
    pub fn pool(&mut self) -> &mut OtPool {
        &mut self.pool
    }

    /// Generates the material for a netlist, with fixed-choice ANDs where
    /// the netlist allows them ([`FixedPlan`]).
    pub async fn preprocess<C: Channel>(
        &mut self,
        ch: &mut C,
        net: &Netlist,
    ) -> Result<Material, GmwError> {
        let plan = Arc::new(FixedPlan::new(net));
        preprocess_fixed(self.me, ch, &mut self.pool, plan).await
    }

    /// Preprocessing and online phase of one netlist.
    pub async fn evaluate<C: Channel>(
        &mut self,
        ch: &mut C,
        net: &Netlist,
        inputs: Inputs,
    ) -> Result<Outputs, GmwError> {
        let material = self.preprocess(ch, net).await?;
        run_online(net, self.me, ch, &material, inputs).await
    }
}

/// One-shot evaluation: sets up a session (default OT extension), then
/// preprocesses and evaluates `net`.
pub async fn evaluate<C: Channel>(
    net: &Netlist,
    me: Party,
    ch: &mut C,
    inputs: Inputs,
) -> Result<Outputs, GmwError> {
    let mut s =
        GmwSession::setup(me, ch, ExtensionConfig::default(), b"mpc-core/gmw/one-shot").await?;
    s.evaluate(ch, net, inputs).await
}
