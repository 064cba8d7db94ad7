//! The async edge of Ferret over a [`Channel`]: bootstrap from a
//! SoftSpokenOT instance, then iterations piece by piece, with the outputs
//! handed out in the order they are made.
//!
//! Messages: the bootstrap draws `boot.k + boot.t · boot.depth` COTs from
//! the SoftSpokenOT instance (its own correction messages, receiver →
//! sender); after that only the sender talks: one message per piece of
//! whole trees ([`PIECE_OUTPUTS`] outputs), never waiting for the receiver.
//! Both parties must call [`FerretSender::extend`] /
//! [`FerretReceiver::extend`] with the same sizes in the same order (the
//! piece boundaries and hash tweaks follow from them).
//!
//! Every value derived from the instance tweak is public: the code seed
//! per iteration, the TCCR tweak ranges of the tree COTs and of the
//! outputs (distinct namespaces, so no tweak is used twice).

use zeroize::Zeroize;

use super::FerretConfig;
use super::core::{ReceiverIteration, SenderIteration, message_len};
use crate::block::Block;
use crate::channel::{Channel, decode_blocks, encode_blocks};
use crate::ot::bits::{append_bits, extract_bits, get_bit};
use crate::ot::derive::{RcotReceiverBatch, RcotSenderBatch};
use crate::ot::{CotReceiver, CotSender, OtError};

/// Outputs per piece (one message): bounds the buffered outputs to 2 MiB
/// (cache-friendly for the code's sequential writes); the 81 messages of a
/// main iteration go out in one flight.
pub const PIECE_OUTPUTS: usize = 1 << 17;

const CODE_CONTEXT: &str = "mpc-core 2026 ferret code seed v1";
const TREE_TWEAK_CONTEXT: &str = "mpc-core 2026 ferret tree-OT tweak v1";
const OUTPUT_INDEX_CONTEXT: &str = "mpc-core 2026 ferret output index v1";

/// Public values both parties derive from the instance tweak.
struct Ids {
    tweak: [u8; 32],
    /// TCCR tweak of the next tree COT (upper 64 bits: instance id).
    tree_tweak: u128,
    /// Stream index of the next output handed out.
    next_index: u128,
    iterations: u64,
}

fn upper_id(context: &str, tweak: &[u8; 32]) -> u128 {
    let h = blake3::derive_key(context, tweak);
    let mut hi = [0u8; 8];
    hi.copy_from_slice(&h[..8]);
    u128::from(u64::from_le_bytes(hi)) << 64
}

impl Ids {
    fn new(tweak: &[u8; 32]) -> Self {
        Ids {
            tweak: *tweak,
            tree_tweak: upper_id(TREE_TWEAK_CONTEXT, tweak),
            next_index: upper_id(OUTPUT_INDEX_CONTEXT, tweak),
            iterations: 0,
        }
    }

    /// The public code seed of the next iteration.
    fn next_code_seed(&mut self) -> Block {
        let mut h = blake3::Hasher::new_derive_key(CODE_CONTEXT);
        h.update(&self.tweak);
        h.update(&self.iterations.to_le_bytes());
        self.iterations += 1;
        let mut b = [0u8; 16];
        b.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Block::from_bytes(b)
    }

    /// The first tree-COT tweak of an iteration with `cots` tree COTs.
    fn take_tree_tweaks(&mut self, cots: usize) -> u128 {
        let first = self.tree_tweak;
        self.tree_tweak = self.tree_tweak.wrapping_add(cots as u128);
        first
    }

    fn take_indices(&mut self, n: usize) -> u128 {
        let first = self.next_index;
        self.next_index = self.next_index.wrapping_add(n as u128);
        first
    }
}

fn lost_base() -> OtError {
    OtError::InvalidParameter("Ferret iteration base incomplete (internal)".into())
}

/// Sender of Ferret random COTs (holds Δ).
pub struct FerretSender {
    cfg: FerretConfig,
    delta: Block,
    boot: Option<CotSender>,
    iter: Option<SenderIteration>,
    ids: Ids,
    /// The next iteration's base, collected from this one's first outputs.
    next_base: Vec<Block>,
    ready: Vec<Block>,
    pos: usize,
    msg: Vec<Block>,
}

impl Drop for FerretSender {
    fn drop(&mut self) {
        self.delta.zeroize();
        self.next_base.zeroize();
        self.ready.zeroize();
    }
}

impl FerretSender {
    /// A generator that will bootstrap from `boot` (its Δ becomes Ferret's)
    /// under the instance `tweak` (the peer's [`FerretReceiver::new`] takes
    /// the same). No message until the first extension.
    pub fn new(boot: CotSender, cfg: FerretConfig, tweak: &[u8; 32]) -> Self {
        FerretSender {
            cfg,
            delta: boot.delta(),
            boot: Some(boot),
            iter: None,
            ids: Ids::new(tweak),
            next_base: Vec::new(),
            ready: Vec::new(),
            pos: 0,
            msg: Vec::new(),
        }
    }

    /// The global correlation Δ (secret).
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// The parameters in use.
    pub fn config(&self) -> FerretConfig {
        self.cfg
    }

    /// Draws the first iteration's base from SoftSpokenOT (receives its
    /// corrections); nothing once done. Paired with
    /// [`FerretReceiver::bootstrap`].
    pub async fn bootstrap<C: Channel>(&mut self, ch: &mut C) -> Result<(), OtError> {
        let Some(mut boot) = self.boot.take() else {
            return Ok(());
        };
        let p = self.cfg.boot();
        let mut batch = match boot.extend(ch, p.base_cots()).await {
            Ok(b) => b,
            Err(e) => {
                self.boot = Some(boot);
                return Err(e);
            }
        };
        let base = std::mem::take(&mut batch.m0);
        let seed = self.ids.next_code_seed();
        let tw = self.ids.take_tree_tweaks(p.t * p.depth);
        self.iter = Some(SenderIteration::new(p, self.delta, base, seed, tw));
        Ok(())
    }

    /// Makes the next piece: a new iteration if the current one is spent,
    /// the trees, the message; reserves the next iteration's base first.
    async fn produce<C: Channel>(&mut self, ch: &mut C) -> Result<(), OtError> {
        self.bootstrap(ch).await?;
        let spent = self.iter.as_ref().is_none_or(|it| it.trees_left() == 0);
        if spent {
            let p = self.cfg.main();
            if self.next_base.len() != p.base_cots() {
                return Err(lost_base());
            }
            let base = std::mem::take(&mut self.next_base);
            let seed = self.ids.next_code_seed();
            let tw = self.ids.take_tree_tweaks(p.t * p.depth);
            self.iter = Some(SenderIteration::new(p, self.delta, base, seed, tw));
        }
        let it = self.iter.as_mut().ok_or_else(lost_base)?;
        let depth = it_depth(&self.cfg, self.ids.iterations);
        let trees = (PIECE_OUTPUTS >> depth).max(1).min(it.trees_left());
        // Every entry is overwritten by the piece: no clearing needed.
        self.ready.resize(trees << depth, Block::ZERO);
        it.piece(trees, &mut self.ready, &mut self.msg);
        ch.send(encode_blocks(&self.msg)).await?;
        // Let the channel's writer run, so this piece goes out while the
        // next is computed even on a single-threaded runtime.
        tokio::task::yield_now().await;
        let need = self.cfg.main().base_cots() - self.next_base.len();
        let take = need.min(self.ready.len());
        self.next_base.extend_from_slice(&self.ready[..take]);
        self.pos = take;
        Ok(())
    }

    /// Appends `n` zero-messages to `out`; returns the stream index of the
    /// first (the TCCR tweak [`RcotSenderBatch`] derivations use). On error
    /// `out` is left as it was.
    pub async fn extend_into<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        out: &mut Vec<Block>,
    ) -> Result<u128, OtError> {
        let start = out.len();
        out.reserve(n);
        while out.len() - start < n {
            if self.pos == self.ready.len()
                && let Err(e) = self.produce(ch).await
            {
                out[start..].zeroize();
                out.truncate(start);
                return Err(e);
            }
            let take = (self.ready.len() - self.pos).min(n - (out.len() - start));
            out.extend_from_slice(&self.ready[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(self.ids.take_indices(n))
    }

    /// `n` random COTs (paired with the peer's [`FerretReceiver::extend`]).
    pub async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<RcotSenderBatch, OtError> {
        let mut m0 = Vec::new();
        let first_index = self.extend_into(ch, n, &mut m0).await?;
        Ok(RcotSenderBatch {
            first_index,
            delta: self.delta,
            m0,
        })
    }
}

/// Tree depth of the iteration numbered `iterations − 1` (the current one).
fn it_depth(cfg: &FerretConfig, iterations: u64) -> usize {
    if iterations <= 1 {
        cfg.boot().depth
    } else {
        cfg.main().depth
    }
}

/// Receiver of Ferret random COTs (random choice bits x, messages m_x).
pub struct FerretReceiver {
    cfg: FerretConfig,
    boot: Option<CotReceiver>,
    iter: Option<ReceiverIteration>,
    ids: Ids,
    next_base: Vec<Block>,
    next_bits: Vec<u8>,
    ready: Vec<Block>,
    /// Choice bits of `ready`, packed (pieces are whole words).
    ready_bits: Vec<u64>,
    pos: usize,
}

impl Drop for FerretReceiver {
    fn drop(&mut self) {
        self.next_base.zeroize();
        self.next_bits.zeroize();
        self.ready.zeroize();
        self.ready_bits.zeroize();
    }
}

impl FerretReceiver {
    /// The peer of [`FerretSender::new`] (same `cfg` and `tweak`).
    pub fn new(boot: CotReceiver, cfg: FerretConfig, tweak: &[u8; 32]) -> Self {
        FerretReceiver {
            cfg,
            boot: Some(boot),
            iter: None,
            ids: Ids::new(tweak),
            next_base: Vec::new(),
            next_bits: Vec::new(),
            ready: Vec::new(),
            ready_bits: Vec::new(),
            pos: 0,
        }
    }

    /// The parameters in use.
    pub fn config(&self) -> FerretConfig {
        self.cfg
    }

    /// Draws the first iteration's base from SoftSpokenOT (sends its
    /// corrections); nothing once done.
    pub async fn bootstrap<C: Channel>(&mut self, ch: &mut C) -> Result<(), OtError> {
        let Some(mut boot) = self.boot.take() else {
            return Ok(());
        };
        let p = self.cfg.boot();
        let mut batch = match boot.extend(ch, p.base_cots()).await {
            Ok(b) => b,
            Err(e) => {
                self.boot = Some(boot);
                return Err(e);
            }
        };
        let base = std::mem::take(&mut batch.mb);
        let bits = (0..base.len())
            .map(|i| u8::from(get_bit(&batch.choices, i)))
            .collect();
        let seed = self.ids.next_code_seed();
        let tw = self.ids.take_tree_tweaks(p.t * p.depth);
        self.iter = Some(ReceiverIteration::new(p, base, bits, seed, tw));
        Ok(())
    }

    async fn produce<C: Channel>(&mut self, ch: &mut C) -> Result<(), OtError> {
        self.bootstrap(ch).await?;
        let spent = self.iter.as_ref().is_none_or(|it| it.trees_left() == 0);
        if spent {
            let p = self.cfg.main();
            if self.next_base.len() != p.base_cots() {
                return Err(lost_base());
            }
            let base = std::mem::take(&mut self.next_base);
            let bits = std::mem::take(&mut self.next_bits);
            let seed = self.ids.next_code_seed();
            let tw = self.ids.take_tree_tweaks(p.t * p.depth);
            self.iter = Some(ReceiverIteration::new(p, base, bits, seed, tw));
        }
        let it = self.iter.as_mut().ok_or_else(lost_base)?;
        let depth = it_depth(&self.cfg, self.ids.iterations);
        let trees = (PIECE_OUTPUTS >> depth).max(1).min(it.trees_left());
        let raw = ch.recv().await?;
        let msg = decode_blocks(&raw, message_len(depth, trees))?;
        // Every entry is overwritten by the piece: no clearing needed.
        self.ready.resize(trees << depth, Block::ZERO);
        self.ready_bits.resize((trees << depth) / 64, 0);
        it.piece(trees, &msg, &mut self.ready, &mut self.ready_bits);
        let need = self.cfg.main().base_cots() - self.next_base.len();
        let take = need.min(self.ready.len());
        self.next_base.extend_from_slice(&self.ready[..take]);
        self.next_bits
            .extend((0..take).map(|i| u8::from(get_bit(&self.ready_bits, i))));
        self.pos = take;
        Ok(())
    }

    /// Appends `n` messages `m_x` to `mb` and their choice bits to the
    /// packed `choices` (which must hold exactly `mb.len()` bits, padding
    /// zero); returns the stream index of the first. On error both are
    /// left as they were.
    pub async fn extend_into<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        choices: &mut Vec<u64>,
        mb: &mut Vec<Block>,
    ) -> Result<u128, OtError> {
        let start = mb.len();
        mb.reserve(n);
        while mb.len() - start < n {
            if self.pos == self.ready.len()
                && let Err(e) = self.produce(ch).await
            {
                mb[start..].zeroize();
                mb.truncate(start);
                choices.truncate(start.div_ceil(64));
                crate::ot::bits::clear_padding(choices, start);
                return Err(e);
            }
            let take = (self.ready.len() - self.pos).min(n - (mb.len() - start));
            let bits = extract_bits(&self.ready_bits, self.pos, take);
            append_bits(choices, mb.len(), &bits, take);
            mb.extend_from_slice(&self.ready[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(self.ids.take_indices(n))
    }

    /// `n` random COTs (paired with the peer's [`FerretSender::extend`]).
    pub async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<RcotReceiverBatch, OtError> {
        let mut choices = Vec::new();
        let mut mb = Vec::new();
        let first_index = self.extend_into(ch, n, &mut choices, &mut mb).await?;
        Ok(RcotReceiverBatch {
            first_index,
            choices,
            mb,
        })
    }
}
